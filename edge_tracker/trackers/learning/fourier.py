"""The classifier's two learning problems in the Fourier domain (numpy): the reference twin.

The model of one layer, for a feature map ``X`` ``[C, H, W]``::

    r = corr(pad(P X), f)          P: [D, C] projection, f: [D, k, k] filter, zero padding k // 2
    s = mlu(r)                     the response activation

``corr`` is the cross-correlation ``torch.nn.functional.conv2d`` computes, so ``r`` has
``(H + 1 - k % 2) x (W + 1 - k % 2)`` cells (``export.models.classifier``). Loss over samples ``n``
with weights ``w_n``::

    L(P, f) = sum_n w_n ||mlu(r_n) - y_n||^2 + filter_reg ||f||^2 + projection_reg ||P||^2

- :class:`JointProblem` (first frame): ``x = (P, f)`` over the raw features of the first-frame samples.
- :class:`FilterProblem` (updates): ``x = (f,)`` over the memory's projected samples, ``P`` fixed.

A sample's padded map is transformed once (``rfft2`` over ``L = H + 2 * (k // 2)`` points, enough
that the circular correlation equals the linear one on every output cell); a correlation with any
filter is then a product and a sum over channels, which makes a CG iteration over 250 stored samples
cost tens of milliseconds on a CPU. The exported graphs (``export.models.classifier_learning``)
solve the same problems in the spatial domain and are checked against these.
"""

from __future__ import annotations

import numpy as np

from edge_tracker.trackers.learning.activation import mlu, mlu_derivative
from edge_tracker.trackers.learning.solver import Linearization, Problem, Vector


class FourierGeometry:
    """Transform sizes of one layer's maps: ``H x W`` features, ``k x k`` filter."""

    def __init__(self, height: int, width: int, filter_size: int) -> None:
        self.k, self.pad = filter_size, filter_size // 2
        self.feature_shape = (height, width)
        self.fft_shape = (height + 2 * self.pad, width + 2 * self.pad)
        self.out_shape = (height + 2 * self.pad - self.k + 1, width + 2 * self.pad - self.k + 1)

    def spectrum(self, maps: np.ndarray) -> np.ndarray:
        """``[N, C, H, W]`` -> ``rfft2`` of the zero-padded maps, ``[N, C, L, L // 2 + 1]``."""
        p = self.pad
        padded = np.pad(maps, ((0, 0), (0, 0), (p, p), (p, p)))
        return np.fft.rfft2(padded.astype(np.float32, copy=False), s=self.fft_shape)

    def spatial(self, spectra: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`spectrum`: ``[N, C, H, W]`` maps back from their spectra."""
        p = self.pad
        padded = np.fft.irfft2(spectra, s=self.fft_shape)
        return padded[:, :, p: p + self.feature_shape[0], p: p + self.feature_shape[1]].astype(np.float32)

    def filter_spectrum(self, filt: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(filt.astype(np.float32, copy=False), s=self.fft_shape)

    def correlate(self, spectra: np.ndarray, filt_spectrum: np.ndarray) -> np.ndarray:
        """``r[n] = sum_d corr(Zp[n, d], f[d])`` -> ``[N, Ho, Wo]``."""
        product = (spectra * filt_spectrum.conj()[None]).sum(axis=1)
        return np.fft.irfft2(product, s=self.fft_shape)[:, : self.out_shape[0], : self.out_shape[1]]

    def to_fourier(self, grad: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(grad.astype(np.float32, copy=False), s=self.fft_shape)

    def filter_adjoint(self, spectra: np.ndarray, grad_spectrum: np.ndarray) -> np.ndarray:
        """Adjoint of ``f -> r``: ``df[d, a, b] = sum_n sum_uv g[n, u, v] Zp[n, d, u + a, v + b]``."""
        product = (spectra * grad_spectrum.conj()[:, None]).sum(axis=0)
        return np.fft.irfft2(product, s=self.fft_shape)[:, : self.k, : self.k]

    def parseval_weights(self) -> np.ndarray:
        """Multiplicity of each ``rfft2`` column in the full spectrum (1 for DC and Nyquist, else 2)."""
        columns = self.fft_shape[1] // 2 + 1
        weights = np.full(columns, 2.0, dtype=np.float32)
        weights[0] = 1.0
        if self.fft_shape[1] % 2 == 0:
            weights[-1] = 1.0
        return weights


def project(projection: np.ndarray, features: np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` features through the ``[D, C]`` projection -> ``[N, D, H, W]``."""
    count, channels, height, width = features.shape
    flat = features.astype(np.float32, copy=False).reshape(count, channels, -1)
    return (projection @ flat).reshape(count, projection.shape[0], height, width)


def _data_loss(residual: np.ndarray, weights: np.ndarray) -> float:
    return float((weights[:, None, None] * residual ** 2).sum())


# ----------------------------------------------------------------------------------------- updates

class FilterProblem(Problem):
    """The filter over stored projected samples (their spectra ``[N, D, L, L // 2 + 1]``), ``P`` fixed."""

    def __init__(self, geometry: FourierGeometry, spectra: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                 filter_reg: float, alpha: float) -> None:
        self.geometry, self.spectra, self.labels, self.weights = geometry, spectra, labels, weights
        self.filter_reg, self.alpha = filter_reg, alpha

    def raw(self, filt: np.ndarray) -> np.ndarray:
        return self.geometry.correlate(self.spectra, self.geometry.filter_spectrum(filt))

    def loss(self, x: Vector) -> float:
        (filt,) = x
        residual = mlu(self.raw(filt), self.alpha) - self.labels
        return _data_loss(residual, self.weights) + self.filter_reg * float((filt ** 2).sum())

    def linearize(self, x: Vector) -> FilterLinearization:
        return FilterLinearization(self, x)


class FilterLinearization(Linearization):
    def __init__(self, problem: FilterProblem, x: Vector) -> None:
        (filt,) = x
        self.problem, self.point, self.weights = problem, x, problem.weights
        self.regs = (problem.filter_reg,)
        raw = problem.raw(filt)
        self.gain = mlu_derivative(raw, problem.alpha)
        self.residual = mlu(raw, problem.alpha) - problem.labels
        self.loss = float((self.weights[:, None, None] * self.residual ** 2).sum()
                          + problem.filter_reg * (filt ** 2).sum())
        self.curvature = self.weights[:, None, None] * self.gain ** 2

    def _adjoint(self, grad: np.ndarray) -> np.ndarray:
        geometry = self.problem.geometry
        return geometry.filter_adjoint(self.problem.spectra, geometry.to_fourier(grad)).astype(np.float32)

    def jvp(self, v: Vector) -> np.ndarray:
        return self.gain * self.problem.raw(v[0])

    def vjp(self, u: np.ndarray) -> Vector:
        return (self._adjoint(self.gain * u),)

    def gradient(self) -> Vector:  # fused: one adjoint of w g e
        (filt,) = self.point
        return (self._adjoint(self.weights[:, None, None] * self.gain * self.residual) + self.problem.filter_reg * filt,)

    def normal(self, v: Vector) -> Vector:  # fused: A^T (w g^2 A v) + reg v
        (d_filt,) = v
        return (self._adjoint(self.curvature * self.problem.raw(d_filt)) + self.problem.filter_reg * d_filt,)


# ----------------------------------------------------------------------------------------- first frame

class JointProblem(Problem):
    """Projection and filter jointly over the first-frame samples' raw features ``[N, C, H, W]``."""

    def __init__(self, geometry: FourierGeometry, features: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                 filter_reg: float, projection_reg: float, alpha: float) -> None:
        self.geometry, self.features, self.labels, self.weights = geometry, features, labels, weights
        self.filter_reg, self.projection_reg, self.alpha = filter_reg, projection_reg, alpha
        self.x_spectra = geometry.spectrum(features)
        self.parseval = geometry.parseval_weights()

    def projected_spectra(self, projection: np.ndarray) -> np.ndarray:
        # the projection is per pixel, so it commutes with the padding and the FFT
        return self.geometry.spectrum(project(projection, self.features))

    def loss(self, x: Vector) -> float:
        projection, filt = x
        raw = self.geometry.correlate(self.projected_spectra(projection), self.geometry.filter_spectrum(filt))
        residual = mlu(raw, self.alpha) - self.labels
        return (_data_loss(residual, self.weights) + self.filter_reg * float((filt ** 2).sum())
                + self.projection_reg * float((projection ** 2).sum()))

    def linearize(self, x: Vector) -> JointLinearization:
        return JointLinearization(self, x)


class JointLinearization(Linearization):
    def __init__(self, problem: JointProblem, x: Vector) -> None:
        projection, filt = x
        self.problem, self.point, self.weights = problem, x, problem.weights
        self.regs = (problem.projection_reg, problem.filter_reg)
        geometry = problem.geometry
        self.z_spectra = problem.projected_spectra(projection)
        self.f_spectrum = geometry.filter_spectrum(filt)
        raw = geometry.correlate(self.z_spectra, self.f_spectrum)
        self.gain = mlu_derivative(raw, problem.alpha)
        self.residual = mlu(raw, problem.alpha) - problem.labels
        self.loss = (_data_loss(self.residual, self.weights) + problem.filter_reg * float((filt ** 2).sum())
                     + problem.projection_reg * float((projection ** 2).sum()))
        self.curvature = self.weights[:, None, None] * self.gain ** 2
        self.f_conj = self.f_spectrum.conj().reshape(projection.shape[0], -1)

    def raw_change(self, v: Vector) -> np.ndarray:
        """``A(dP, df)``: the change of the raw response ``[N, Ho, Wo]``."""
        d_proj, d_filt = v
        geometry, x_spectra = self.problem.geometry, self.problem.x_spectra
        # sum_d dP[d, c] conj(F[d]): the projection change seen through the current filter
        mixed = (d_proj.T @ self.f_conj.real + 1j * (d_proj.T @ self.f_conj.imag)).astype(np.complex64)
        product = (x_spectra * mixed.reshape(1, *x_spectra.shape[1:])).sum(axis=1)
        product += (self.z_spectra * geometry.filter_spectrum(d_filt).conj()[None]).sum(axis=1)
        return np.fft.irfft2(product, s=geometry.fft_shape)[:, : geometry.out_shape[0], : geometry.out_shape[1]]

    def raw_adjoint(self, grad: np.ndarray) -> Vector:
        """``A^T g`` -> ``(dP [D, C], df [D, k, k])``."""
        geometry, x_spectra = self.problem.geometry, self.problem.x_spectra
        channels = x_spectra.shape[1]
        dim = self.f_spectrum.shape[0]
        g_spectrum = geometry.to_fourier(grad)
        d_filt = geometry.filter_adjoint(self.z_spectra, g_spectrum)
        # d r / d Zp[d] is g convolved with f[d], and d Zp / d P is X: by Parseval,
        # dP[d, c] = Re sum_k w_k F[d, k] sum_n G[n, k] conj(X[n, c, k]) / L^2
        mixed = (g_spectrum[:, None] * x_spectra.conj()).sum(axis=0) * self.problem.parseval  # [C, ...]
        d_proj = (self.f_spectrum.reshape(dim, -1) @ mixed.reshape(channels, -1).T).real
        return d_proj.astype(np.float32) / np.float32(np.prod(geometry.fft_shape)), d_filt.astype(np.float32)

    def jvp(self, v: Vector) -> np.ndarray:
        return self.gain * self.raw_change(v)

    def vjp(self, u: np.ndarray) -> Vector:
        return self.raw_adjoint(self.gain * u)

    def gradient(self) -> Vector:  # fused: one adjoint of w g e
        projection, filt = self.point
        rhs_p, rhs_f = self.raw_adjoint(self.weights[:, None, None] * self.gain * self.residual)
        return rhs_p + self.problem.projection_reg * projection, rhs_f + self.problem.filter_reg * filt

    def normal(self, v: Vector) -> Vector:  # fused: A^T (w g^2 A v) + R v
        d_proj, d_filt = v
        ap, af = self.raw_adjoint(self.curvature * self.raw_change(v))
        return ap + self.problem.projection_reg * d_proj, af + self.problem.filter_reg * d_filt
