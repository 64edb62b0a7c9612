"""scripts/stad_leakage_parts.py: the per-kind (host / pasted actor) split of the squared input
gradient on pasted clips, checked on a model whose input gradient is 1 for every label and
element (logit_l = sum of the clip + l): each slot's leaked share is then the area outside its
provenance, and its inside / outside mass is 3 channels x the areas, computed here from the
paste regions directly."""
from types import SimpleNamespace

import numpy as np
import torch

from pgg_zoo_tasks.stad.paste import VideoPaste


class _UniformGradient(torch.nn.Module):
    def forward(self, x, batch=None):
        return x.sum((1, 2, 3, 4))

    def label_logits(self, outputs, provenance, batch):
        return outputs[:, None] + torch.arange(float(provenance.labels.shape[1]))[None]


def test_uniform_gradient_splits_by_area(repo_module):
    rng = np.random.default_rng(0)
    items = []
    for k in range(4):
        x0, y0 = (int(v) for v in rng.integers(0, 8, 2))
        items.append({"inputs": torch.randn(3, 4, 16, 16),
                      "boxes": torch.tensor([[x0, y0, x0 + 6.0, y0 + 7.0]]),
                      "labels": torch.tensor([k % 3])})

    def collate(its):
        return {"inputs": torch.stack([i["inputs"] for i in its]),
                "data_samples": {"boxes": [i["boxes"] for i in its],
                                 "box_labels": [i["labels"] for i in its]}}

    # occlusion_threshold 1: every host actor keeps its label, so both kinds are counted
    task = SimpleNamespace(build_dataset=lambda split: items, collate=collate,
                           build_synthesizer=lambda: VideoPaste(occlusion_threshold=1.0))
    mod = repo_module("scripts/stad_leakage_parts.py")
    got = mod.parts(task, _UniformGradient(), "val", "eval", n_batches=1, bs=4)

    # The same draws again (the script's fixed order and generator), for the paste regions.
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0)).tolist()
    batch = collate([items[i] for i in order])
    syn = VideoPaste(occlusion_threshold=1.0)(
        {**batch["data_samples"], "inputs": batch["inputs"]}, torch.Generator().manual_seed(100))
    n = 4 * 16 * 16
    expect = {"host": [], "pasted": []}
    for b in range(4):
        if not syn.extras["pasted"][b]:
            continue
        p_area = float(syn.extras["paste_region"][b].sum())
        expect["host"].append([100 * p_area / n, 3 * (n - p_area), 3 * p_area])
        expect["pasted"].append([100 * (n - p_area) / n, 3 * p_area, 3 * (n - p_area)])
    assert expect["pasted"], "the draws pasted nothing"
    for kind in ("host", "pasted"):
        np.testing.assert_allclose(got[kind], np.asarray(expect[kind]).mean(0), rtol=1e-5)
