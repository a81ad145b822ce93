// The Warehouse stage module. See DESIGN.md.
