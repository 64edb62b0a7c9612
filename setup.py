"""Package layout that pyproject.toml cannot express: folders installed under other names.

``tasks/`` (the built-in task plugins) becomes ``pgg_zoo_tasks`` and ``model_cards/`` becomes
``pgg_zoo_model_cards``, so neither shadows a generic top-level name in a user's environment.
"""
from setuptools import find_packages, setup


def _mapped(folder: str, name: str) -> list[str]:
    return [name] + [f"{name}.{p}" for p in find_packages(folder)]


setup(
    packages=find_packages(include=["pgg_zoo", "pgg_zoo.*"])
    + _mapped("tasks", "pgg_zoo_tasks")
    + _mapped("model_cards", "pgg_zoo_model_cards"),
    package_dir={"pgg_zoo_tasks": "tasks", "pgg_zoo_model_cards": "model_cards"},
)
