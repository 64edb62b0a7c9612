"""``pgg-zoo recipes``: the shipped run configurations and the published number each targets."""
from __future__ import annotations

import argparse

from ..recipes import get_recipe, list_recipes, target_text


def _recipes(args: argparse.Namespace) -> int:
    if args.name:  # one recipe in full: the file as shipped
        recipe = get_recipe(args.name)
        print(f"# {recipe.name}  ({recipe.path})")
        print(recipe.path.read_text("utf-8").rstrip())
        return 0
    recipes = list_recipes()
    if not recipes:
        print("no recipes registered")
        return 0
    rows = [(r.name, r.task, target_text(r.target), r.description) for r in recipes]
    w = [max(len(row[i]) for row in rows + [("recipe", "task", "target", "")]) for i in range(3)]
    print(f"{'recipe':<{w[0]}}  {'task':<{w[1]}}  {'targets (paper)':<{w[2]}}  description")
    for name, task, target, desc in rows:
        print(f"{name:<{w[0]}}  {task:<{w[1]}}  {target:<{w[2]}}  {desc}")
    print("\nrun one: pgg-zoo train --recipe NAME --data-root PATH [--set KEY=VALUE ...]; "
          "show one: pgg-zoo recipes NAME")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recipes", help="shipped run configurations for the paper's protocols on "
                                       "the real data sets, with the number each targets")
    p.add_argument("name", nargs="?", help="show this recipe's file")
    p.set_defaults(func=_recipes)
