"""Recipes of the stad task (YAML run configurations; see pgg_zoo.recipes)."""
