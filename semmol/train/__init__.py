"""Training loops: DDP pretraining, fine-tuning, and their checkpoints."""
