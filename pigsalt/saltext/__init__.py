"""Salt extension modules shipped inside the pigsalt package.

The ``salt.loader`` entry point in setup.cfg points here; Salt looks for a sub-directory per
module kind (``pillar/`` holds the ext_pillar, ``runners/`` the ``pigsalt`` runner).
"""
