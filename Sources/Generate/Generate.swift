// The Generate stage module. See DESIGN.md.
