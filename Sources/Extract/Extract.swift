// The Extract stage module. See DESIGN.md.
