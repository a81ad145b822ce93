// The Value stage module. See DESIGN.md.
