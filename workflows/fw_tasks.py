"""Compatibility for stored workflows: FireWorks records each task by its import path
(``{{nafill.workflows.fw_tasks.StartFillTask}}``), so workflows submitted before the tasks moved
to :mod:`nafill.workflows.fireworks` still load and run. New code imports from there."""

from nafill.workflows.fireworks.spacing import RelaxSpacingTask  # noqa: F401
from nafill.workflows.fireworks.tasks import (  # noqa: F401
    PlanStepTask,
    RelaxCandidatesTask,
    SelectStepTask,
    StartFillTask,
)
