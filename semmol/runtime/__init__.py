"""Process-level plumbing shared by every stage: distributed helpers, checkpoint files, atomic writes."""
