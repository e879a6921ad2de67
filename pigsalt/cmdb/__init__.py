"""The CMDB: the inventory in pg-meta (schema ``pigsty``), loaded and dumped by ``pigsalt cmdb``."""
