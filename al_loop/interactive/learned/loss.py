"""Normalized focal loss (NFL; Sofiiuk et al., "AdaptIS" / RITM), binary, with ignored pixels.

Per pixel: ``-alpha_t * w * log(p_t)`` with the focal weight ``(1 - p_t)^gamma`` rescaled per
image so that the weights of its valid pixels sum to their count (``w = (1-p_t)^gamma * n /
sum (1-p_t)^gamma``, the rescaling factor detached as in RITM). Unlike the plain focal loss,
the total weight does not vanish as the prediction improves, so late training still learns
from the few pixels that are wrong. The per-image loss is averaged over valid pixels, then
over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalized_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.5,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Scalar loss of ``logits`` [B,1,H,W] against ``target`` (0/1, same shape); ``valid``
    (bool, same shape) marks pixels that count (all when None)."""
    target = target.float()
    valid = torch.ones_like(target) if valid is None else valid.float()
    dims = tuple(range(1, logits.dim()))
    positive = target > 0.5
    log_pt = F.logsigmoid(torch.where(positive, logits, -logits))  # log p_t, stable
    focal = (1.0 - log_pt.exp()) ** gamma * valid
    scale = (valid.sum(dims, keepdim=True) / (focal.sum(dims, keepdim=True) + eps)).detach()
    alpha_t = torch.where(positive, alpha, 1.0 - alpha)
    loss = -alpha_t * focal * scale * log_pt
    return (loss.sum(dims) / (valid.sum(dims) + eps)).mean()
