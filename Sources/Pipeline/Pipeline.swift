// The Pipeline stage module. See DESIGN.md.
