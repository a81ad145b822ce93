// The Cluster stage module. See DESIGN.md.
