"""Weight images: each layer's weights as one PNG mosaic, for watching features form.

:func:`weight_mosaic` lays a layer's weights out as a 2-D array: a Conv2d layer's kernels
``(out, in, kh, kw)`` as ``out`` rows of ``in`` tiles; a Linear layer whose source is an
image (its presynaptic shape is ``(C, H, W)`` or ``(H, W)``) as one row per output neuron of its
``C`` receptive-field images; any other Linear layer as its ``(out, in)`` matrix. Tiles are
separated by a one-pixel border of NaN (drawn blank). :func:`save_weight_images` writes one
PNG per layer of the chosen roles, on a colour scale symmetric around 0 (as ``snn-rl
inspect``'s weight panels), or around a layer's ``centres`` value (a FedeSTDP layer's
``w_init``: the weight of an input seen half the time, so above it means "wants this input"
and below "wants it absent"). Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["save_weight_images", "weight_mosaic"]


def _tiles(rows: np.ndarray) -> np.ndarray:
    """``(R, C, h, w)`` tiles -> one ``(R*(h+1)-1, C*(w+1)-1)`` mosaic with NaN borders."""
    r, c, h, w = rows.shape
    out = np.full((r * (h + 1) - 1, c * (w + 1) - 1), np.nan, dtype=np.float64)
    for i in range(r):
        for j in range(c):
            out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = rows[i, j]
    return out


def weight_mosaic(weight: torch.Tensor, input_shape: Sequence[int] | None = None) -> np.ndarray:
    """A layer's weights as a 2-D array (see the module docstring)."""
    w = weight.detach().float().cpu().numpy()
    if w.ndim == 4:  # Conv2d: (out, in, kh, kw)
        return _tiles(w)
    if w.ndim != 2:
        raise ValueError(f"weight must be (out, in) or (out, in, kh, kw), got {w.shape}")
    shape = tuple(input_shape or ())
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) == 3 and int(np.prod(shape)) == w.shape[1]:
        return _tiles(w.reshape(w.shape[0], *shape))
    return w.astype(np.float64)


def save_weight_images(
    network,
    folder: str | Path,
    step: int,
    roles: Sequence[str] = ("features",),
    centres: Mapping[str, float] | None = None,
) -> list[Path]:
    """One PNG per layer of ``roles`` (all layers when empty): ``folder/<layer>_<step>.png``;
    ``centres``: per layer name, the weight drawn as the colour scale's middle (default 0).
    Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, layer in network.layer_state_dict().items():
        if roles and network.roles.get(name) not in roles:
            continue
        conn = layer["connection"]
        if conn.n_agents > 1:
            raise ValueError(f"layer {name!r} holds one weight per agent; draw a member's network")
        pre = getattr(conn, "pre_shape", ())
        centre = float((centres or {}).get(name, 0.0))
        mosaic = weight_mosaic(conn.weight, pre if len(pre) > 1 else None) - centre
        top = float(np.nanmax(np.abs(mosaic))) if np.isfinite(mosaic).any() else 1.0
        size = (min(12, 2 + mosaic.shape[1] / 12), min(12, 2 + mosaic.shape[0] / 12))
        fig, ax = plt.subplots(figsize=size)
        image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-(top or 1.0), vmax=top or 1.0)
        shift = f" - {centre:g}" if centre else ""
        ax.set_title(
            f"{name}{shift} ({network.roles.get(name)}), {tuple(conn.weight.shape)}, step {step}"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
        path = folder / f"{name}_{step}.png"
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
