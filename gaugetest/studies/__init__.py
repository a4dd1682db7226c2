"""Studies that call the pipeline on simulated data with a known truth: the scenario bank
(``scenarios``), the calibration of inference methods on it (``calibration``, ``methods``,
``calibration_report``; ``gaugetest calibrate``), the verdict study (``verdict_study``;
``gaugetest calibrate --verdict``) and the seeded synthetic sweeps of the demo (``synthetic``).
"""
