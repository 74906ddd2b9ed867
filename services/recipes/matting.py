"""Edge refinement with the closed-form matting Laplacian (Levin et al.), solved in the band only.

pymatting builds the Laplacian; the system is ours, because its own solvers fit alpha to the
trimap alone, and where erosion leaves no sure foreground (a pylon, a fence, a wheel's spokes)
they drop the subject. Here the model's alpha is a weak prior inside the band:

    minimise  a' L a  +  prior * sum over the band of (a - a_model)^2,  a fixed outside the band

so the photo's colour lines decide the fine edge, and the model's answer holds where colour
says nothing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from services.engines.base import Mask
from services.recipes.matte import Pixels
from services.recipes.trimap import Trimap


def refine_matting(
    image: Pixels,
    alpha: Mask,
    trimap: Trimap,
    *,
    prior: float = 0.05,
    epsilon: float = 1e-6,
    radius: int = 1,
    iterations: int = 400,
) -> Mask:
    """Solve the band's alpha with the matting Laplacian and the model's alpha as a prior."""
    from pymatting import cf_laplacian  # numba compiles on first import: only where used

    band = trimap.band
    refined = np.where(trimap.foreground, 1.0, np.where(trimap.background, 0.0, alpha))
    refined = refined.astype(np.float64)
    if not band.any():
        return refined.astype(np.float32)
    # Only the band's bounding box (plus the Laplacian's window) takes part.
    rows, cols = np.nonzero(band)
    pad = radius + 1
    top, bottom = max(rows.min() - pad, 0), min(rows.max() + pad + 1, band.shape[0])
    left, right = max(cols.min() - pad, 0), min(cols.max() + pad + 1, band.shape[1])
    window = (slice(top, bottom), slice(left, right))
    laplacian = cf_laplacian(image[window].astype(np.float64), epsilon, radius).tocsr()
    unknown = band[window].ravel()
    values = refined[window].ravel()
    inner = laplacian[unknown][:, unknown]
    border = laplacian[unknown][:, ~unknown]
    prior_values = alpha[window].ravel()[unknown].astype(np.float64)
    system = inner + prior * scipy.sparse.identity(inner.shape[0], format="csr")
    right_side = prior * prior_values - border @ values[~unknown]
    # Jacobi preconditioning: the prior keeps the diagonal dominant enough for it.
    diagonal = system.diagonal()
    preconditioner = scipy.sparse.diags(1.0 / diagonal)
    solution, _ = scipy.sparse.linalg.cg(
        system, right_side, x0=prior_values, M=preconditioner, maxiter=iterations, rtol=1e-5
    )
    values[unknown] = np.clip(solution, 0.0, 1.0)
    refined[window] = values.reshape(bottom - top, right - left)
    return refined.astype(np.float32)
