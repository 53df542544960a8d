"""Building blocks several methods share: contrastive loss, memory bank, k-means, key-ordered gathering."""
