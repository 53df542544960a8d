"""MMSA: multi-modal fusion, a hypergraph over molecules, and memory anchors."""
