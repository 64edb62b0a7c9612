"""Recipes of the wsol task (YAML run configurations; see pgg_zoo.recipes)."""
