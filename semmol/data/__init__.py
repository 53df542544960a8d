"""Data stages: sources and download, standardization, conformers in sharded Parquet, reading, splits."""
