"""Few-shot property prediction: episodes over the tasks of a multi-task benchmark, first-order
MAML, and the learners compared on held-out tasks (the ``fewshot`` stage)."""
