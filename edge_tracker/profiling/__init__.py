"""``edge-tracker profile``: per-stage latency against the 73 FPS target by backend and precision
(``run.py``), the machine it ran on (``machine.py``), Jetson power and load (``tegrastats.py``), a
roofline projection for named Jetsons (``roofline.py``) and the plot (``plot.py``)."""
