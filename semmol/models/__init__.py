"""Encoders of each modality (SMILES, 2D graph, 3D conformers, fingerprints), fusion and heads."""
