"""Gauss-Newton with conjugate gradient, apart from the problems it solves (pytracking's split).

A *problem* is a weighted, regularised least-squares objective over a vector ``x`` (a tuple of
arrays: projection and filter jointly, or the filter alone)::

    L(x) = sum_n w_n ||e_n(x)||^2 + sum_i reg_i ||x_i||^2

Linearised at a point (:class:`Linearization`) it gives the residuals ``e``, ``J v`` and
``J^T u``, and from them the two things Gauss-Newton needs: the right-hand side
``J^T W e + R x`` (half the gradient of ``L``) and the normal operator ``v -> J^T W J v + R v``.
The solver below knows nothing else about the problem, so the same code learns the first frame
(projection and filter) and the later updates (filter only), and the problems can live in any
domain (``fourier.py`` here; the exported graphs do the same in the spatial domain).

The work is cut into *units* that cost about the same: a linearisation (one response and one
adjoint over every sample) and a CG iteration (one response and one adjoint of the direction). A
:class:`GaussNewtonStep` advances one unit per :meth:`~GaussNewtonStep.step` call and keeps its state
in plain arrays, so an update can be spread over several frames (and the tracker's state copied).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np

Vector = tuple[np.ndarray, ...]

CG_TINY = 1e-30  # a squared CG residual at or below this is converged: stop (the graphs take zero steps)


class Linearization(abc.ABC):
    """A least-squares problem linearised at one point: what Gauss-Newton needs there.

    Subclasses set ``loss`` (``L`` at the point), ``residual`` (``e``, ``[N, ...]``), ``weights``
    (``w``, ``[N]``), ``point`` (``x``) and ``regs`` (one weight per part of ``x``), and implement
    ``jvp`` and ``vjp``. ``gradient`` and ``normal`` follow from those; a subclass may compute them in
    a fused form (fewer passes), which the tests check against these definitions.
    """

    loss: float
    residual: np.ndarray
    weights: np.ndarray
    point: Vector
    regs: tuple[float, ...]

    @abc.abstractmethod
    def jvp(self, v: Vector) -> np.ndarray:
        """``J v``: the change of the residuals ``[N, ...]`` along ``v``."""

    @abc.abstractmethod
    def vjp(self, u: np.ndarray) -> Vector:
        """``J^T u`` for ``u`` shaped like the residuals."""

    def weighted(self, u: np.ndarray) -> np.ndarray:
        return self.weights.reshape(-1, *([1] * (u.ndim - 1))) * u

    def gradient(self) -> Vector:
        """``J^T W e + R x``: half the gradient of the loss."""
        data = self.vjp(self.weighted(self.residual))
        return tuple(d + reg * x for d, reg, x in zip(data, self.regs, self.point))

    def normal(self, v: Vector) -> Vector:
        """``(J^T W J + R) v``: the Gauss-Newton approximation of half the Hessian, applied to ``v``."""
        data = self.vjp(self.weighted(self.jvp(v)))
        return tuple(d + reg * vi for d, reg, vi in zip(data, self.regs, v))


class Problem(abc.ABC):
    """A least-squares objective: its value anywhere, and its linearisation at a point."""

    @abc.abstractmethod
    def loss(self, x: Vector) -> float: ...

    @abc.abstractmethod
    def linearize(self, x: Vector) -> Linearization: ...


def dot(a: Vector, b: Vector) -> float:
    """Inner product of two vectors, accumulated in float64."""
    return sum(float(np.vdot(u.astype(np.float64), v.astype(np.float64))) for u, v in zip(a, b))


class ConjugateGradient:
    """CG on ``apply(x) = rhs`` (symmetric positive definite) from ``x = 0``, one iteration per ``step``.

    Stops early (later steps do nothing) when the squared residual falls to ``CG_TINY`` or the
    direction has no positive curvature. ``norms`` holds ``r . r`` at the start and after each step.
    """

    def __init__(self, rhs: Vector) -> None:
        self.x = tuple(np.zeros_like(r) for r in rhs)
        self.residual = rhs
        self.direction = rhs
        self.rho = dot(rhs, rhs)
        self.norms = [self.rho]
        self.stopped = False

    def step(self, apply: Callable[[Vector], Vector]) -> None:
        if self.stopped or self.rho <= CG_TINY:
            self.stopped = True
            self.norms.append(self.rho)
            return
        image = apply(self.direction)
        curvature = dot(self.direction, image)
        if curvature <= 0:
            self.stopped = True
            self.norms.append(self.rho)
            return
        step = self.rho / curvature
        self.x = tuple(xi + step * di for xi, di in zip(self.x, self.direction))
        self.residual = tuple(ri - step * qi for ri, qi in zip(self.residual, image))
        rho_next = dot(self.residual, self.residual)
        self.direction = tuple(ri + (rho_next / self.rho) * di for ri, di in zip(self.residual, self.direction))
        self.rho = rho_next
        self.norms.append(self.rho)

    def solution(self) -> Vector:
        return tuple(xi.astype(np.float32) for xi in self.x)


def conjugate_gradient(apply: Callable[[Vector], Vector], rhs: Vector, iterations: int) -> Vector:
    """``iterations`` CG steps on ``apply(x) = rhs`` from ``x = 0``; the solution (float32)."""
    solver = ConjugateGradient(rhs)
    for _ in range(iterations):
        solver.step(apply)
    return solver.solution()


class GaussNewtonStep:
    """One Gauss-Newton step of ``problem`` from ``x``, in ``1 + cg_iterations`` units of work.

    The first ``step()`` linearises; each further one is a CG iteration on the normal equations.
    When ``done``, ``result`` is ``x + delta``, ``loss`` the loss at ``x`` and ``cg_norms`` the CG trace.
    """

    def __init__(self, problem: Problem, x: Vector, cg_iterations: int) -> None:
        self.problem, self.x, self.cg_iterations = problem, x, cg_iterations
        self.linearization: Linearization | None = None
        self.cg: ConjugateGradient | None = None
        self.taken = 0
        self.result: Vector | None = None

    @property
    def units(self) -> int:
        return 1 + self.cg_iterations

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def loss(self) -> float:
        return self.linearization.loss

    @property
    def cg_norms(self) -> list[float]:
        return self.cg.norms

    def step(self) -> None:
        if self.done:
            return
        if self.linearization is None:
            self.linearization = self.problem.linearize(self.x)
            self.cg = ConjugateGradient(tuple(-g for g in self.linearization.gradient()))
        else:
            self.cg.step(self.linearization.normal)
            self.taken += 1
        if self.taken == self.cg_iterations:
            self.result = tuple(xi + di for xi, di in zip(self.x, self.cg.solution()))

    def run(self) -> Vector:
        while not self.done:
            self.step()
        return self.result


def gauss_newton(problem: Problem, x: Vector, gn_iterations: int, cg_iterations: int
                 ) -> tuple[Vector, list[float], list[list[float]]]:
    """``gn_iterations`` Gauss-Newton steps of ``cg_iterations`` CG iterations each, from ``x``.

    Returns the solution, the loss before each step and after the last (``gn + 1`` values) and each
    step's CG residual norms (``r . r`` at the start and after every iteration).
    """
    losses, norms = [], []
    for _ in range(gn_iterations):
        gn_step = GaussNewtonStep(problem, x, cg_iterations)
        x = gn_step.run()
        losses.append(gn_step.loss)
        norms.append(gn_step.cg_norms)
    losses.append(problem.loss(x))
    return x, losses, norms
