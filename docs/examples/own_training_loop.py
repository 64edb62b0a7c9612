import torch
import torch.nn.functional as F
from pgg_zoo import CutMix, ProvenanceGuidance, label_logits, soft_targets


def train(model, loader, optimizer, epochs=10, alpha=0.05, seed=0):
    """CutMix + provenance guidance for any classifier ``(B, C, H, W) -> (B, K)``."""
    cutmix, guidance = CutMix(), ProvenanceGuidance(alpha=alpha)
    generator = torch.Generator().manual_seed(seed)  # all of CutMix's randomness
    for _ in range(epochs):
        for images, labels in loader:
            batch = cutmix({"inputs": images, "labels": labels}, generator)  # inputs + Provenance
            inputs, prov = batch.inputs.requires_grad_(), batch.provenance
            logits = model(inputs)  # (B, K)
            task_loss = F.cross_entropy(logits, soft_targets(prov, logits.shape[1]))
            penalty = guidance(inputs, label_logits(logits, prov), prov)  # alpha * masked grad norm
            optimizer.zero_grad()
            (task_loss + penalty).backward()
            optimizer.step()
