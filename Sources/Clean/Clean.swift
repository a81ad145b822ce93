// The Clean stage module. See DESIGN.md.
