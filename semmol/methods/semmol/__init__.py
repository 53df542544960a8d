"""SemMol: Dynamic Center Library and Anchor-Center Soft Matching."""
