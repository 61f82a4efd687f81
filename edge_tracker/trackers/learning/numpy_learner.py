"""The numpy learner: each layer's projection and filter learned on the host in the Fourier domain.

This is the reference twin of the exported learning graphs and the fast path on a CPU: a layer's
stored samples are kept as spectra, so a CG iteration over 250 of them is a product and a sum.

The matrices are small, and a multi-threaded BLAS next to ONNX Runtime's own thread pool loses
more to waiting than it gains (measured: a 64x256 by 256x324 product took 24 ms with 2 OpenBLAS
threads on 2 busy cores, 0.2 ms with one), so every public routine runs with BLAS on one thread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from edge_tracker.errors import ConfigError, InputError
from edge_tracker.trackers.learning.fourier import FilterProblem, FourierGeometry, JointProblem, project
from edge_tracker.trackers.learning.memory import SampleMemory
from edge_tracker.trackers.learning.solver import GaussNewtonStep, gauss_newton

_THREADPOOLS = ThreadpoolController()


def one_blas_thread(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _THREADPOOLS.limit(limits=1, user_api="blas"):
            return method(*args, **kwargs)
    return wrapper


@dataclass(frozen=True)
class SolverSettings:
    """Regularisation and activation of one layer's classifier (SPEC 1.6 defaults)."""

    filter_reg: float = 0.1  # weight of ||f||^2
    projection_init: str = "random"  # start of P: "random" (seeded Gaussian) or "pca" (see initial_projection)
    seed: int = 0  # seed of the random start
    projection_reg: float = 1e-4  # weight of ||P||^2 (first frame only; P is fixed afterwards)
    alpha: float = 0.05  # mlu threshold, as in the exported graph


class LayerClassifier:
    """Projection ``P`` ``[D, C]`` and filter ``f`` ``[D, k, k]`` of one backbone layer, and its samples.

    ``initialize`` learns both from the first-frame samples; ``store`` keeps a later frame's sample in
    a slot the ``memory`` chose; ``update_step`` / ``optimize`` refine ``f`` over the memory.
    ``projection_4d`` / ``filter_4d`` are the tensors the exported ``classifier`` graph takes. The
    memory's weights may be shared with other layers' classifiers (the tracker inserts once for all).
    """

    def __init__(self, proj_dim: int, filter_size: int, settings: SolverSettings, memory: SampleMemory
                 ) -> None:
        self.proj_dim, self.k, self.settings, self.memory = proj_dim, filter_size, settings, memory
        self.projection: np.ndarray | None = None
        self.filter: np.ndarray | None = None
        self.geometry: FourierGeometry | None = None

    @property
    def projection_4d(self) -> np.ndarray:
        return np.ascontiguousarray(self.projection[:, :, None, None], dtype=np.float32)

    @property
    def filter_4d(self) -> np.ndarray:
        return np.ascontiguousarray(self.filter[None], dtype=np.float32)

    # -------------------------------------------------------------------- first frame
    @one_blas_thread
    def initialize(self, features: np.ndarray, labels: np.ndarray, gn_iterations: int, cg_iterations: int,
                   start: np.ndarray | None = None) -> list[float]:
        """Learn ``P`` and ``f`` jointly from the first-frame samples; fill the memory's first slots.

        Args:
            features: ``[N, C, H, W]`` backbone features of the N first-frame samples.
            labels: ``[N, Ho, Wo]`` Gaussian labels.
            start: ``[D, C]`` where ``P`` starts (default: ``initial_projection``); ``f`` starts at 0.
        Returns:
            the loss before the first and after every Gauss-Newton step.
        """
        count, _, height, width = features.shape
        if count != self.memory.num_init:
            raise InputError(f"{count} first-frame samples for a memory made for {self.memory.num_init}")
        self.geometry = FourierGeometry(height, width, self.k)
        if labels.shape != (count, *self.geometry.out_shape):
            raise InputError(f"labels must be {[count, *self.geometry.out_shape]}, got {list(labels.shape)}")
        x = features.astype(np.float32)
        projection = initial_projection(x, self.proj_dim, self.settings) if start is None else start
        filt = np.zeros((self.proj_dim, self.k, self.k), dtype=np.float32)
        weights = self.memory.weights[:count].astype(np.float32)
        s = self.settings
        problem = JointProblem(self.geometry, x, labels, weights, s.filter_reg, s.projection_reg, s.alpha)
        (self.projection, self.filter), losses, self.init_cg_norms = gauss_newton(
            problem, (projection, filt), gn_iterations, cg_iterations)

        # the memory keeps projected samples: P is fixed from here on
        self.spectra = np.zeros((self.memory.capacity, self.proj_dim, *problem.x_spectra.shape[2:]),
                                dtype=np.complex64)
        self.labels = np.zeros((self.memory.capacity, *self.geometry.out_shape), dtype=np.float32)
        self.spectra[:count] = problem.projected_spectra(self.projection)
        self.labels[:count] = labels
        return losses

    # -------------------------------------------------------------------- later frames
    @one_blas_thread
    def store(self, slot: int, features: np.ndarray, label: np.ndarray) -> None:
        """Keep one sample (``[1, C, H, W]`` raw features, ``[Ho, Wo]`` label) in ``slot``."""
        if self.projection is None:
            raise InputError("store() before initialize()")
        self.spectra[slot] = self.geometry.spectrum(project(self.projection, features))[0]
        self.labels[slot] = label

    def add_sample(self, features: np.ndarray, label: np.ndarray, learning_rate: float) -> int:
        """Insert into the memory and store (a classifier with a memory of its own); returns the slot."""
        if self.projection is None:
            raise InputError("add_sample() before initialize()")
        slot = self.memory.insert(learning_rate)
        self.store(slot, features, label)
        return slot

    def problem(self) -> FilterProblem:
        """The update problem over the samples in the memory now (weights as float32)."""
        used = self.memory.count
        weights = self.memory.weights[:used].astype(np.float32)
        s = self.settings
        return FilterProblem(self.geometry, self.spectra[:used], self.labels[:used], weights, s.filter_reg, s.alpha)

    def update_step(self, cg_iterations: int) -> GaussNewtonStep:
        """A Gauss-Newton step on ``f`` over the memory, to run unit by unit (``finish`` when done)."""
        return GaussNewtonStep(self.problem(), (self.filter,), cg_iterations)

    @one_blas_thread
    def advance(self, step: GaussNewtonStep) -> None:
        """One unit of ``step`` (with BLAS on one thread)."""
        step.step()

    def finish(self, step: GaussNewtonStep) -> None:
        """Swap in the filter ``step`` computed."""
        (self.filter,) = step.result

    @one_blas_thread
    def optimize(self, cg_iterations: int) -> tuple[float, float]:
        """One whole Gauss-Newton step on ``f`` over the memory; returns the loss before and after."""
        step = self.update_step(cg_iterations)
        step.run()
        self.finish(step)
        return step.loss, step.problem.loss((self.filter,))

    # -------------------------------------------------------------------- evaluation
    @one_blas_thread
    def response(self, features: np.ndarray) -> np.ndarray:
        """Raw response ``[N, Ho, Wo]`` of ``[N, C, H, W]`` features (the graph does this at tracking)."""
        geometry = FourierGeometry(*features.shape[2:], self.k)
        projected = project(self.projection, features)
        return geometry.correlate(geometry.spectrum(projected), geometry.filter_spectrum(self.filter))

    def samples(self) -> np.ndarray:
        """The stored projected samples as maps, ``[capacity, D, H, W]`` (zeros in unused slots)."""
        return self.geometry.spatial(self.spectra)

    def load_samples(self, samples: np.ndarray, labels: np.ndarray) -> None:
        """Replace the stored samples by ``[capacity, D, H, W]`` projected maps and their labels."""
        self.spectra = self.geometry.spectrum(samples).astype(np.complex64)
        self.labels = labels.astype(np.float32).copy()


def initial_projection(features: np.ndarray, dim: int, settings: SolverSettings) -> np.ndarray:
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
    vectors = features.transpose(0, 2, 3, 1).reshape(-1, channels).astype(np.float64)
    vectors -= vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(vectors.T @ vectors)
    order = np.argsort(eigenvalues)[::-1][:dim]
    basis = eigenvectors[:, order].T
    # eigenvectors have no sign; fix one (largest entry positive) so that equal inputs give equal P
    signs = np.sign(basis[np.arange(dim), np.abs(basis).argmax(axis=1)])
    return (basis * signs[:, None]).astype(np.float32)
