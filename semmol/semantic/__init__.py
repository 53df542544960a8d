"""The semantic objective: Dynamic Center Library, Anchor-Center Soft Matching, memory bank, InfoNCE."""
