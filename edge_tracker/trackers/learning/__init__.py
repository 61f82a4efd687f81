"""ATOM's online classifier learning (SPEC 1.6): problems, solver, sample memory and two learners.

- ``solver.py``: Gauss-Newton with conjugate gradient over any least-squares problem (residuals,
  ``J v``, ``J^T u`` and regularisers), in units of work that can be spread over frames.
- ``fourier.py``: the two problems (first frame: projection and filter jointly; updates: the filter
  over the memory) in the Fourier domain, numpy: the reference twin of the exported graphs.
- ``memory.py``: the sample memory's weights (which slot a sample takes, how much each counts).
- ``learner.py``: what the tracker asks of a learner and when the work is done (updates whole or
  spread over frames); ``NumpyLearner`` learns on the host (``numpy_learner.LayerClassifier`` per
  layer), ``graph_learner.GraphLearner`` through the export's learning graphs.
"""

from edge_tracker.trackers.learning.activation import gaussian_label, mlu, mlu_derivative
from edge_tracker.trackers.learning.graph_learner import GRAPH_PHASES, GraphLearner
from edge_tracker.trackers.learning.learner import LearnerSettings, LearnerState, NumpyLearner, OnlineLearner
from edge_tracker.trackers.learning.memory import SampleMemory
from edge_tracker.trackers.learning.numpy_learner import LayerClassifier, SolverSettings, initial_projection

__all__ = ["GRAPH_PHASES", "GraphLearner", "LayerClassifier", "LearnerSettings", "LearnerState", "NumpyLearner", "OnlineLearner",
           "SampleMemory", "SolverSettings", "gaussian_label", "initial_projection", "mlu", "mlu_derivative"]
