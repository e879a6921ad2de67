# Pillar SLS files for your own additions. pigsalt's derived pillar (key `pigsty`) does not
# come from here: the master's ext_pillar computes it from the inventory directory (see
# docs/pillar.md). Anything you map here is merged with it.
base: {}
