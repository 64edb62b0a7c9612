"""Built-in task plugins of pgg_zoo, installed as the import package ``pgg_zoo_tasks``.

Each subpackage registers itself through the ``pgg_zoo.plugins`` entry-point group, exactly
as a third-party plugin does; nothing here is imported by the ``pgg_zoo`` core.
"""
