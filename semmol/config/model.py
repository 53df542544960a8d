"""The encoders of each modality and the shared embedding space (the ``model`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from semmol.config.section import Section


class TextEncoderConfig(Section):
    """What the text encoders (SMILES, description) share."""

    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(2, description="Transformer layers.")
    heads: int = Field(4, description="Attention heads.")
    max_len: int = Field(128, description="Tokens kept per text (longer ones are truncated).")
    dropout: float = Field(0.1, description="Dropout inside the encoder.")
    mask_prob: float = Field(0.15, description="Fraction of tokens masked for the reconstruction loss.")
    pretrained: str | None = Field(
        None,
        description="DeBERTa-v2 weights and tokenizer to start from (from_pretrained: a Hugging Face Hub name or "
        "a local directory); dim, layers and heads then come from it. Loading a fine-tuned model reads it again.",
    )


class SmilesEncoderConfig(TextEncoderConfig):
    """The SMILES encoder over atom-level tokens (vocabulary from the corpus)."""

    name: Literal["transformer", "deberta"] = Field(
        "transformer",
        description="Encoder architecture: a pre-norm transformer with learned positions, or DeBERTa-v2 "
        "(transformers' DebertaV2Model, relative position attention).",
    )
    randomize: bool = Field(
        False,
        description="In pretraining, read a randomised SMILES of each molecule (RDKit, a new one per step "
        "and molecule) instead of the canonical one: the text augmentation of LGM-CL.",
    )

    @model_validator(mode="after")
    def _pretrained_is_deberta(self) -> SmilesEncoderConfig:
        if self.pretrained and self.name != "deberta":
            raise ValueError("model.smiles.pretrained needs model.smiles.name 'deberta'")
        return self


class DescriptionEncoderConfig(TextEncoderConfig):
    """DeBERTa-v2 over the words of each molecule's text description (shard column ``description``)."""

    name: Literal["deberta"] = Field("deberta", description="Encoder architecture (DeBERTa-v2).")
    max_len: int = Field(160, description="Words kept per description (longer ones are truncated).")


class Graph2DEncoderConfig(Section):
    name: Literal["gin", "gine", "dmpnn"] = Field(
        "gine", description="GIN, GINE (with bond features), or chemprop's directed message passing (D-MPNN)."
    )
    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(3, description="Message-passing layers (the depth of a D-MPNN).")
    pool: Literal["mean", "sum", "norm"] = Field(
        "mean", description="Readout over atoms: mean, sum, or norm (sum / 100, chemprop's default)."
    )
    dropout: float = Field(0.1, description="Dropout between layers.")
    mask_prob: float = Field(0.15, description="Fraction of atoms masked for the reconstruction loss.")


class PretrainGNNEncoderConfig(Section):
    """The GNNs of Hu et al. (ICLR 2020) over their own atom and bond features, read from each
    molecule's SMILES: the view that fine-tunes their published weights (snap-stanford/pretrain-gnns)."""

    name: Literal["pretrain_gnns"] = Field("pretrain_gnns", description="Encoder family (Hu et al.'s GNN module).")
    architecture: Literal["gin", "gcn", "graphsage", "gat"] = Field(
        "gin", description="Message passing of every layer: GIN, GCN, GraphSAGE or GAT (2 heads), as theirs."
    )
    dim: int = Field(300, ge=1, description="Atom state size (300 in the published weights).")
    layers: int = Field(5, ge=2, description="Layers (5 in the published weights).")
    dropout: float = Field(0.5, ge=0, lt=1, description="Dropout after every layer (their fine-tuning: 0.5).")


class Geom3DEncoderConfig(Section):
    name: Literal["schnet"] = Field("schnet", description="Distance-based continuous-filter encoder.")
    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(3, description="Interaction blocks.")
    cutoff: float = Field(6.0, description="Interaction cutoff (Angstrom).")
    num_gaussians: int = Field(32, description="Radial basis functions of the distance expansion.")
    noise_std: float = Field(0.1, description="Coordinate noise (Angstrom) for the denoising loss.")


class VectorEncoderConfig(Section):
    """An MLP over a per-molecule vector stored in the shards (ECFP bits, RDKit descriptors)."""

    name: Literal["mlp"] = Field("mlp", description="MLP over the stored vector.")
    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(2, description="MLP layers.")
    dropout: float = Field(0.1, description="Dropout between layers.")


class ImageEncoderConfig(Section):
    """A small residual CNN over the stored 2D depiction (GroupNorm, so DDP needs no synced statistics)."""

    name: Literal["resnet"] = Field("resnet", description="Encoder architecture.")
    dim: int = Field(128, description="Output size.")
    width: int = Field(32, description="Channels of the first stage; each later stage doubles them.")
    stages: int = Field(3, ge=1, description="Residual stages, each halving the resolution.")
    stem_stride: int = Field(1, ge=1, description="Stride of the first convolution (2 quarters the cost).")
    dropout: float = Field(0.1, description="Dropout before the output layer.")


class GraphAttentionEncoderConfig(Section):
    """AttentiveFP over atom and bond features: the graph-attention view."""

    name: Literal["attentivefp"] = Field("attentivefp", description="Encoder architecture.")
    dim: int = Field(128, description="Hidden and output size.")
    layers: int = Field(2, ge=1, description="Atom-level attention layers.")
    timesteps: int = Field(2, ge=1, description="Molecule-level readout steps.")
    dropout: float = Field(0.1, description="Dropout inside AttentiveFP.")


class GraphTransformerEncoderConfig(Section):
    """A GPS graph transformer (local GINE message passing + global attention over all atoms)."""

    name: Literal["gps"] = Field("gps", description="Encoder architecture (torch_geometric's GPSConv).")
    dim: int = Field(128, description="Hidden and output size.")
    layers: int = Field(2, ge=1, description="GPS layers.")
    heads: int = Field(4, ge=1, description="Heads of the global attention.")
    walk_length: int = Field(
        8, ge=1, description="Steps of the random-walk structural encoding added to the atom embeddings."
    )
    dropout: float = Field(0.1, description="Dropout inside the layers.")


class ModelConfig(Section):
    """Encoders of each modality and the shared embedding space."""

    proj_dim: int = Field(128, description="Dimension of the shared, L2-normalised embedding space.")
    smiles: SmilesEncoderConfig = Field(default_factory=SmilesEncoderConfig, description="SMILES encoder.")
    graph2d: Graph2DEncoderConfig = Field(
        default_factory=Graph2DEncoderConfig, description="2D graph encoder."
    )
    graph2d_hu: PretrainGNNEncoderConfig = Field(
        default_factory=PretrainGNNEncoderConfig,
        description="2D graph encoder of Hu et al. (their featurisation; loads the pretrain-gnns weights).",
    )
    geom3d: Geom3DEncoderConfig = Field(
        default_factory=Geom3DEncoderConfig, description="3D conformer encoder."
    )
    fingerprint: VectorEncoderConfig = Field(
        default_factory=VectorEncoderConfig, description="ECFP encoder (MLP over the stored bits)."
    )
    descriptors: VectorEncoderConfig = Field(
        default_factory=VectorEncoderConfig, description="RDKit 2D descriptor encoder (MLP)."
    )
    image: ImageEncoderConfig = Field(
        default_factory=ImageEncoderConfig, description="2D depiction encoder (CNN)."
    )
    graph_attention: GraphAttentionEncoderConfig = Field(
        default_factory=GraphAttentionEncoderConfig, description="Graph-attention encoder (AttentiveFP)."
    )
    graph_global: GraphTransformerEncoderConfig = Field(
        default_factory=GraphTransformerEncoderConfig, description="Global graph encoder (graph transformer)."
    )
    description: DescriptionEncoderConfig = Field(
        default_factory=DescriptionEncoderConfig, description="Text description encoder (DeBERTa-v2)."
    )
