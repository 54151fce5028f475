// Package hub holds cshub's domain: the objects members share, the organisations and workspaces
// that share them, the markings that bound them, the one error type, and the interfaces of the
// services that store, seal and carry them. It depends on nothing outside the standard library so
// that every other package can depend on it.
package hub
