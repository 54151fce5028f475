package hub

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. They are few on purpose: each maps to one HTTP status in exactly one place (the
// api package) and callers branch on the code, never on the message.
const (
	EInvalid      = "invalid"      // the input breaks a rule; Field and Message say which and why
	ENotFound     = "not_found"    // no such thing, or the caller may not know it exists
	EConflict     = "conflict"     // the thing exists already in another form
	EUnauthorized = "unauthorized" // no or bad credentials
	EForbidden    = "forbidden"    // known caller, not allowed
	ESealed       = "sealed"       // the keyring is not unsealed; content cannot be served
	EIntegrity    = "integrity"    // stored data failed an integrity check
	ETooLarge     = "too_large"    // a size limit was exceeded
	ERateLimited  = "rate_limited" // too many requests
	EUnavailable  = "unavailable"  // a dependency is down; try again
	EInternal     = "internal"     // a bug or an unexpected failure
)

// Error is the one error type of cshub. Field names the offending input (a JSON property, a
// query parameter, a flag) when there is one, so that every API error says what and why.
type Error struct {
	Code    string
	Field   string
	Message string
	Err     error // the underlying cause, if any; never shown to API clients for EInternal
}

func (e *Error) Error() string {
	s := e.Code
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil && e.Err.Error() != e.Message {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error naming the field and the reason.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the code of the first *Error in its chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or a generic text for
// other errors, whose details may be internal.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field named by the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// HTTPStatus maps an error code to its HTTP status: the one place where that happens, shared by
// every HTTP surface of the hub (the JSON API, TAXII, the web pages).
func HTTPStatus(code string) int {
	switch code {
	case EInvalid:
		return http.StatusBadRequest
	case ENotFound:
		return http.StatusNotFound
	case EConflict:
		return http.StatusConflict
	case EUnauthorized:
		return http.StatusUnauthorized
	case EForbidden:
		return http.StatusForbidden
	case ETooLarge:
		return http.StatusRequestEntityTooLarge
	case ERateLimited:
		return http.StatusTooManyRequests
	case ESealed, EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
