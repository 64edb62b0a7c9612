"""scripts/wsol_leakage_parts.py: the own/other x object/background split of a label's squared
input gradient, checked on a model whose input gradient is the same for every label and every
element (logit_k = sum of the input + k), where the split must equal the area split, computed
here from the masks directly."""
from types import SimpleNamespace

import numpy as np
import torch

from pgg_zoo import CutMix

class _UniformGradient(torch.nn.Module):
    def forward(self, x):
        return {"logits": x.sum((1, 2, 3))[:, None] + torch.arange(4.0)[None]}


def test_uniform_gradient_splits_by_area(repo_module):
    rng = np.random.default_rng(0)
    items = []
    for k in range(8):
        mask = np.zeros((1, 12, 12), dtype=np.float32)
        y, x = rng.integers(0, 6, 2)
        mask[0, y:y + 5, x:x + 6] = 1
        items.append({"inputs": torch.randn(3, 12, 12), "mask": mask, "label": k % 4})

    task = SimpleNamespace(
        dataset=lambda split: items,
        collate=lambda its: {"inputs": torch.stack([i["inputs"] for i in its]),
                             "data_samples": {"labels": torch.tensor([i["label"] for i in its])}},
        synthesizer=CutMix(),
        model=_UniformGradient(),
    )
    got = repo_module("scripts/wsol_leakage_parts.py").leakage_parts(task, n=8, batch=8, seed=3)

    # The same draws again, to get the provenance and the mixed object masks independently.
    order = torch.randperm(8, generator=torch.Generator().manual_seed(3)).tolist()
    its = [items[i] for i in order]
    x = torch.stack([i["inputs"] for i in its])
    labels = torch.tensor([i["label"] for i in its])
    obj = torch.stack([torch.as_tensor(i["mask"][0]) for i in its])
    syn = CutMix()({"inputs": x, "labels": labels}, generator=torch.Generator().manual_seed(3))
    perm = syn.extras["perm"]
    boxes = syn.extras["boxes"]
    expect = []
    for b in range(8):
        inbox = torch.zeros(12, 12)
        y0, x0, y1, x1 = (int(v) for v in boxes[b])  # end-exclusive
        inbox[y0:y1, x0:x1] = 1
        mixed_obj = torch.where(inbox > 0, obj[perm[b]], obj[b])
        for slot in range(2):
            own = syn.provenance.masks[b, slot].float()
            if not (syn.provenance.valid[b, slot] and 0 < float(own.mean()) < 1):
                continue
            expect.append([float((own * mixed_obj).mean()), float((own * (1 - mixed_obj)).mean()),
                           float(((1 - own) * mixed_obj).mean()),
                           float(((1 - own) * (1 - mixed_obj)).mean())])
    assert expect, "the draws gave no partly owned label"
    np.testing.assert_allclose(got, 100 * np.asarray(expect).mean(0), atol=1e-4)
    assert abs(got.sum() - 100) < 1e-6
