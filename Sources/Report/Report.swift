// The Report stage module. See DESIGN.md.
