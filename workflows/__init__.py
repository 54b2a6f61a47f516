"""Filling engine, energy backends, FireWorks tasks and workflow builders."""
