"""FireWorks orchestration: thin tasks around the engine's step, workflow builders, the LaunchPad
(embedded or MongoDB) and the in-process runner. Every module here imports FireWorks through
:mod:`nafill.workflows.fireworks.env`."""
