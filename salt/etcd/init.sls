include:
  - etcd.install
  - etcd.config
  - etcd.service
  - etcd.health
  - etcd.auth
