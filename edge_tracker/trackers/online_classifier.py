"""ATOM's online classifier in numpy: a 1x1 projection and a small filter per backbone layer, learned
at tracking time by Gauss-Newton + conjugate gradient (SPEC 1.6), and the sample memory it learns from.

The model of one layer, for a feature map ``X`` ``[C, H, W]``::

    r = corr(pad(P X), f)          P: [D, C] projection, f: [D, k, k] filter, zero padding k // 2
    s = mlu(r)                     the response activation (``mlu`` below)

``corr`` is the cross-correlation ``torch.nn.functional.conv2d`` computes, so ``r`` has
``(H + 1 - k % 2) x (W + 1 - k % 2)`` cells on the grid ``export.models.classifier`` documents (centred
on the crop). The exported ``classifier`` graph computes exactly this from ``P`` and ``f``; this module
only *learns* them.

Loss over the samples ``j`` of the memory (weights ``w_j`` summing to 1, Gaussian labels ``y_j``)::

    L(P, f) = sum_j w_j ||mlu(r_j) - y_j||^2 + filter_reg ||f||^2 + projection_reg ||P||^2

Gauss-Newton linearises ``mlu(r)`` around the current parameters and solves the normal equations
``(J^T J + reg) delta = -grad / 2`` with a few conjugate-gradient iterations. The first frame optimises
``P`` and ``f`` jointly; later updates optimise ``f`` only, with ``P`` fixed, so the memory stores the
*projected* samples.

Convolutions run in the Fourier domain: a sample's padded map is transformed once (``rfft2`` over
``L = H + 2 * (k // 2)`` points, enough that the circular correlation equals the linear one on every
output cell), after which a correlation with any filter is a product and a sum over channels. That
makes a CG iteration over 250 stored samples cost tens of milliseconds on a CPU.

The matrices here are small, and a multi-threaded BLAS next to ONNX Runtime's own thread pool loses
more to waiting than it gains (measured: a 64x256 by 256x324 product took 24 ms with 2 OpenBLAS
threads on 2 busy cores, 0.2 ms with one), so every public routine runs with BLAS on one thread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from edge_tracker.errors import ConfigError, InputError


_THREADPOOLS = ThreadpoolController()


def _one_blas_thread(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _THREADPOOLS.limit(limits=1, user_api="blas"):
            return method(*args, **kwargs)
    return wrapper


# ------------------------------------------------------------------------------------ activation

def mlu(x: np.ndarray, alpha: float) -> np.ndarray:
    """``x`` for ``x >= 0``, ``alpha * (exp(x / alpha) - 1)`` below: negative scores saturate at -alpha."""
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


def mlu_derivative(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x >= 0, 1.0, np.exp(np.minimum(x, 0) / alpha)).astype(x.dtype)


# ------------------------------------------------------------------------------------ labels

def gaussian_label(size: int, center_cells: tuple[float, float], sigma_cells: float) -> np.ndarray:
    """``[size, size]`` Gaussian peak at ``(row, col)`` = ``center_cells`` (cell units, may be fractional)."""
    cells = np.arange(size, dtype=np.float64)
    rows = np.exp(-0.5 * ((cells - center_cells[0]) / sigma_cells) ** 2)
    cols = np.exp(-0.5 * ((cells - center_cells[1]) / sigma_cells) ** 2)
    return np.outer(rows, cols).astype(np.float32)


# ------------------------------------------------------------------------------------ memory

class SampleMemory:
    """Weights of a fixed-capacity training set: new samples enter with weight ``learning_rate``.

    Every new sample gets weight ``learning_rate`` and the others share ``1 - learning_rate``, so old
    samples decay geometrically. While there is room a free slot is used; once full, the sample with
    the smallest weight among the non-initial ones is replaced. The first-frame samples together keep
    at least ``init_min_weight`` of the total (SPEC 1.6: 0.25), so the tracker never forgets the
    target as it was given.
    """

    def __init__(self, capacity: int, num_init: int, init_min_weight: float) -> None:
        if num_init < 1 or capacity <= num_init:
            raise ConfigError(f"the sample memory must hold more than the {num_init} first-frame samples; "
                              f"memory_size is {capacity}. Raise memory_size or use fewer augmentations.")
        if not 0.0 <= init_min_weight <= 1.0:
            raise ConfigError(f"init_samples_minimum_weight must be in [0, 1], got {init_min_weight}")
        self.capacity, self.num_init, self.init_min_weight = capacity, num_init, init_min_weight
        self.weights = np.zeros(capacity, dtype=np.float64)
        self.weights[:num_init] = 1.0 / num_init
        self.count = num_init  # slots in use; the first num_init hold the first-frame samples

    def insert(self, learning_rate: float) -> int:
        """Make room for one new sample and return the slot to write it to."""
        if not 0.0 < learning_rate < 1.0:
            raise ConfigError(f"learning rate must be in (0, 1), got {learning_rate}")
        if self.count < self.capacity:
            slot = self.count
            self.count += 1
        else:
            slot = self.num_init + int(np.argmin(self.weights[self.num_init:]))
        self.weights[slot] = 0.0
        self.weights *= (1.0 - learning_rate) / self.weights.sum()
        self.weights[slot] = learning_rate
        init_total = self.weights[: self.num_init].sum()
        if init_total < self.init_min_weight:
            rest = self.weights[self.num_init:]
            rest *= (1.0 - self.init_min_weight) / rest.sum()
            self.weights[: self.num_init] = self.init_min_weight / self.num_init
        return slot


# ------------------------------------------------------------------------------------ the learner

@dataclass(frozen=True)
class SolverSettings:
    """Regularisation and activation of one layer's classifier (SPEC 1.6 defaults)."""

    filter_reg: float = 0.1  # weight of ||f||^2
    projection_init: str = "random"  # start of P: "random" (seeded Gaussian) or "pca" (see _initial_projection)
    seed: int = 0  # seed of the random start
    projection_reg: float = 1e-4  # weight of ||P||^2 (first frame only; P is fixed afterwards)
    alpha: float = 0.05  # mlu threshold, as in the exported graph


class LayerClassifier:
    """Projection ``P`` ``[D, C]`` and filter ``f`` ``[D, k, k]`` of one backbone layer, and its memory.

    ``initialize`` learns both from the first-frame samples; ``add_sample`` stores a later frame's
    sample; ``optimize`` refines ``f`` over the memory. ``projection_4d`` / ``filter_4d`` are the
    tensors the exported ``classifier`` graph takes.
    """

    def __init__(self, proj_dim: int, filter_size: int, settings: SolverSettings, memory: SampleMemory
                 ) -> None:
        self.proj_dim, self.k, self.settings, self.memory = proj_dim, filter_size, settings, memory
        self.pad = filter_size // 2
        self.projection: np.ndarray | None = None
        self.filter: np.ndarray | None = None

    # -------------------------------------------------------------------- shapes
    def _geometry(self, height: int, width: int) -> None:
        self.fft_shape = (height + 2 * self.pad, width + 2 * self.pad)
        self.out_shape = (height + 2 * self.pad - self.k + 1, width + 2 * self.pad - self.k + 1)

    @property
    def projection_4d(self) -> np.ndarray:
        return np.ascontiguousarray(self.projection[:, :, None, None], dtype=np.float32)

    @property
    def filter_4d(self) -> np.ndarray:
        return np.ascontiguousarray(self.filter[None], dtype=np.float32)

    # -------------------------------------------------------------------- Fourier-domain correlation
    def _spectrum(self, maps: np.ndarray) -> np.ndarray:
        """``[N, C, H, W]`` -> ``rfft2`` of the zero-padded maps, ``[N, C, L, L // 2 + 1]``."""
        p = self.pad
        padded = np.pad(maps, ((0, 0), (0, 0), (p, p), (p, p)))
        return np.fft.rfft2(padded.astype(np.float32, copy=False), s=self.fft_shape)

    def _filter_spectrum(self, filt: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(filt.astype(np.float32, copy=False), s=self.fft_shape)

    def _correlate(self, spectra: np.ndarray, filt_spectrum: np.ndarray) -> np.ndarray:
        """``r[n] = sum_d corr(Zp[n, d], f[d])`` -> ``[N, Ho, Wo]``."""
        product = (spectra * filt_spectrum.conj()[None]).sum(axis=1)
        return np.fft.irfft2(product, s=self.fft_shape)[:, : self.out_shape[0], : self.out_shape[1]]

    def _to_fourier(self, grad: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(grad.astype(np.float32, copy=False), s=self.fft_shape)

    def _filter_adjoint(self, spectra: np.ndarray, grad_spectrum: np.ndarray) -> np.ndarray:
        """Adjoint of ``f -> r``: ``df[d, a, b] = sum_n sum_uv g[n, u, v] Zp[n, d, u + a, v + b]``."""
        product = (spectra * grad_spectrum.conj()[:, None]).sum(axis=0)
        return np.fft.irfft2(product, s=self.fft_shape)[:, : self.k, : self.k]

    # -------------------------------------------------------------------- first frame
    @_one_blas_thread
    def initialize(self, features: np.ndarray, labels: np.ndarray, gn_iterations: int,
                   cg_iterations: int) -> list[float]:
        """Learn ``P`` and ``f`` jointly from the first-frame samples; fill the memory with them.

        Args:
            features: ``[N, C, H, W]`` backbone features of the N first-frame samples.
            labels: ``[N, Ho, Wo]`` Gaussian labels.
        Returns:
            the loss before the first and after every Gauss-Newton step.
        """
        count, channels, height, width = features.shape
        if count != self.memory.num_init:
            raise InputError(f"{count} first-frame samples for a memory made for {self.memory.num_init}")
        self._geometry(height, width)
        if labels.shape != (count, *self.out_shape):
            raise InputError(f"labels must be {[count, *self.out_shape]}, got {list(labels.shape)}")
        x = features.astype(np.float32)
        self.projection = _initial_projection(x, self.proj_dim, self.settings)
        self.filter = np.zeros((self.proj_dim, self.k, self.k), dtype=np.float32)
        weights = self.memory.weights[:count].astype(np.float32)
        x_spectra = self._spectrum(x)
        parseval = self._parseval_weights()

        def project():  # the projection is per pixel, so it commutes with the padding and the FFT
            return self._spectrum(_project(self.projection, x))

        losses = [self._loss(project(), labels, weights, joint=True)]
        for _ in range(gn_iterations):
            z_spectra = project()
            f_spectrum = self._filter_spectrum(self.filter)
            raw = self._correlate(z_spectra, f_spectrum)
            gain = mlu_derivative(raw, self.settings.alpha)
            residual = mlu(raw, self.settings.alpha) - labels
            curvature = weights[:, None, None] * gain ** 2
            f_conj = f_spectrum.conj().reshape(self.proj_dim, -1)

            def jacobian(d_proj, d_filt):  # A(dP, df): change of the raw response
                # sum_d dP[d, c] conj(F[d]): the projection change seen through the current filter
                mixed = (d_proj.T @ f_conj.real + 1j * (d_proj.T @ f_conj.imag)).astype(np.complex64)
                product = (x_spectra * mixed.reshape(1, *x_spectra.shape[1:])).sum(axis=1)
                product += (z_spectra * self._filter_spectrum(d_filt).conj()[None]).sum(axis=1)
                return np.fft.irfft2(product, s=self.fft_shape)[:, : self.out_shape[0], : self.out_shape[1]]

            def adjoint(grad):  # A^T g
                g_spectrum = self._to_fourier(grad)
                d_filt = self._filter_adjoint(z_spectra, g_spectrum)
                # d r / d Zp[d] is g convolved with f[d], and d Zp / d P is X: by Parseval,
                # dP[d, c] = Re sum_k w_k F[d, k] sum_n G[n, k] conj(X[n, c, k]) / L^2
                mixed = (g_spectrum[:, None] * x_spectra.conj()).sum(axis=0) * parseval  # [C, ...]
                d_proj = (f_spectrum.reshape(self.proj_dim, -1) @ mixed.reshape(channels, -1).T).real
                return d_proj.astype(np.float32) / np.float32(np.prod(self.fft_shape)), d_filt.astype(np.float32)

            rhs_p, rhs_f = adjoint(weights[:, None, None] * gain * residual)
            rhs = (-(rhs_p + self.settings.projection_reg * self.projection),
                   -(rhs_f + self.settings.filter_reg * self.filter))

            def normal(vec):
                d_proj, d_filt = vec
                ap, af = adjoint(curvature * jacobian(d_proj, d_filt))
                return (ap + self.settings.projection_reg * d_proj, af + self.settings.filter_reg * d_filt)

            d_proj, d_filt = _conjugate_gradient(normal, rhs, cg_iterations)
            self.projection = self.projection + d_proj
            self.filter = self.filter + d_filt
            losses.append(self._loss(project(), labels, weights, joint=True))

        # the memory keeps projected samples: P is fixed from here on
        memory_shape = (self.memory.capacity, self.proj_dim, *x_spectra.shape[2:])
        self.spectra = np.zeros(memory_shape, dtype=np.complex64)
        self.labels = np.zeros((self.memory.capacity, *self.out_shape), dtype=np.float32)
        self.spectra[:count] = project()
        self.labels[:count] = labels
        return losses

    def _parseval_weights(self) -> np.ndarray:
        """Multiplicity of each ``rfft2`` column in the full spectrum (1 for DC and Nyquist, else 2)."""
        columns = self.fft_shape[1] // 2 + 1
        weights = np.full(columns, 2.0, dtype=np.float32)
        weights[0] = 1.0
        if self.fft_shape[1] % 2 == 0:
            weights[-1] = 1.0
        return weights

    # -------------------------------------------------------------------- later frames
    @_one_blas_thread
    def add_sample(self, features: np.ndarray, label: np.ndarray, learning_rate: float) -> int:
        """Store one sample (``[1, C, H, W]`` features, ``[Ho, Wo]`` label); returns its slot."""
        if self.projection is None:
            raise InputError("add_sample() before initialize()")
        projected = _project(self.projection, features)
        slot = self.memory.insert(learning_rate)
        self.spectra[slot] = self._spectrum(projected)[0]
        self.labels[slot] = label
        return slot

    @_one_blas_thread
    def optimize(self, cg_iterations: int) -> tuple[float, float]:
        """One Gauss-Newton step on ``f`` over the memory; returns the loss before and after."""
        used = self.memory.count
        spectra, labels = self.spectra[:used], self.labels[:used]
        weights = self.memory.weights[:used].astype(np.float32)
        f_spectrum = self._filter_spectrum(self.filter)
        raw = self._correlate(spectra, f_spectrum)
        gain = mlu_derivative(raw, self.settings.alpha)
        residual = mlu(raw, self.settings.alpha) - labels
        before = float((weights[:, None, None] * residual ** 2).sum()
                       + self.settings.filter_reg * (self.filter ** 2).sum())
        curvature = weights[:, None, None] * gain ** 2
        reg = self.settings.filter_reg

        def adjoint(grad):
            return self._filter_adjoint(spectra, self._to_fourier(grad)).astype(np.float32)

        rhs = (-(adjoint(weights[:, None, None] * gain * residual) + reg * self.filter),)

        def normal(vec):
            (d_filt,) = vec
            return (adjoint(curvature * self._correlate(spectra, self._filter_spectrum(d_filt))) + reg * d_filt,)

        (d_filt,) = _conjugate_gradient(normal, rhs, cg_iterations)
        self.filter = (self.filter + d_filt).astype(np.float32)
        after = self._loss(spectra, labels, weights, joint=False)
        return before, after

    # -------------------------------------------------------------------- evaluation
    @_one_blas_thread
    def response(self, features: np.ndarray) -> np.ndarray:
        """Raw response ``[N, Ho, Wo]`` of ``[N, C, H, W]`` features (the graph does this at tracking)."""
        self._geometry(*features.shape[2:])
        projected = _project(self.projection, features)
        return self._correlate(self._spectrum(projected), self._filter_spectrum(self.filter))

    def _loss(self, spectra, labels, weights, joint: bool) -> float:
        raw = self._correlate(spectra, self._filter_spectrum(self.filter))
        residual = mlu(raw, self.settings.alpha) - labels
        loss = float((weights[:, None, None] * residual ** 2).sum())
        loss += self.settings.filter_reg * float((self.filter ** 2).sum())
        if joint:
            loss += self.settings.projection_reg * float((self.projection ** 2).sum())
        return loss


def _project(projection: np.ndarray, features: np.ndarray) -> np.ndarray:
    count, channels, height, width = features.shape
    flat = features.astype(np.float32, copy=False).reshape(count, channels, -1)
    return (projection @ flat).reshape(count, projection.shape[0], height, width)


def _initial_projection(features: np.ndarray, dim: int, settings: SolverSettings) -> np.ndarray:
    """Where the joint optimisation of ``P`` starts (the filter starts at zero).

    "random": Gaussian entries with variance ``1 / C``, seeded (pytracking ATOM's default "randn").
    "pca": the ``dim`` principal directions of the feature vectors. PCA is data-driven but unstable
    where the eigenvalues around the cut are close: features that differ by 1e-5 (ONNX Runtime vs
    PyTorch) then give rotated subspaces, and the few Gauss-Newton steps end in visibly different
    classifiers (3% of the response in our test). The random start is a continuous function of
    nothing, so equal inputs up to rounding give equal classifiers up to rounding.
    """
    channels = features.shape[1]
    if dim > channels:
        raise ConfigError(f"projection to {dim} channels needs at least that many feature channels, "
                          f"got {channels}")
    if settings.projection_init == "random":
        rng = np.random.default_rng(settings.seed)
        return (rng.standard_normal((dim, channels)) / np.sqrt(channels)).astype(np.float32)
    if settings.projection_init == "pca":
        return _pca_projection(features, dim)
    raise ConfigError(f"projection_init must be 'random' or 'pca', got {settings.projection_init!r}")


def _pca_projection(features: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` principal directions of the feature vectors (pytracking's "pca" projection start)."""
    channels = features.shape[1]
    if dim > channels:
        raise ConfigError(f"projection to {dim} channels needs at least that many feature channels, "
                          f"got {channels}")
    vectors = features.transpose(0, 2, 3, 1).reshape(-1, channels).astype(np.float64)
    vectors -= vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(vectors.T @ vectors)
    order = np.argsort(eigenvalues)[::-1][:dim]
    basis = eigenvectors[:, order].T
    # eigenvectors have no sign; fix one (largest entry positive) so that equal inputs give equal P
    signs = np.sign(basis[np.arange(dim), np.abs(basis).argmax(axis=1)])
    return (basis * signs[:, None]).astype(np.float32)


def _conjugate_gradient(apply, rhs: tuple[np.ndarray, ...], iterations: int) -> tuple[np.ndarray, ...]:
    """Solve ``apply(x) = rhs`` (symmetric positive definite) from ``x = 0`` in ``iterations`` steps.

    ``x`` is a tuple of arrays (e.g. projection and filter) treated as one vector.
    """
    def dot(a, b):
        return sum(float(np.vdot(u.astype(np.float64), v.astype(np.float64))) for u, v in zip(a, b))

    x = tuple(np.zeros_like(r) for r in rhs)
    residual = rhs
    direction = rhs
    rho = dot(residual, residual)
    for _ in range(iterations):
        if rho <= 1e-30:
            break
        image = apply(direction)
        curvature = dot(direction, image)
        if curvature <= 0:
            break
        step = rho / curvature
        x = tuple(xi + step * di for xi, di in zip(x, direction))
        residual = tuple(ri - step * qi for ri, qi in zip(residual, image))
        rho_next = dot(residual, residual)
        direction = tuple(ri + (rho_next / rho) * di for ri, di in zip(residual, direction))
        rho = rho_next
    return tuple(xi.astype(np.float32) for xi in x)
