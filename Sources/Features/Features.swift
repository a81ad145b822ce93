// The Features stage module. See DESIGN.md.
