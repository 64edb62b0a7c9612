"""Recipes of the classification task (YAML run configurations; see pgg_zoo.recipes)."""
