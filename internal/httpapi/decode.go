package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/evently/evently/internal/apperr"
)

// maxBodyBytes is the largest request body accepted (1 MiB).
const maxBodyBytes = 1 << 20

// validator is implemented by request DTOs that check their own fields.
type validator interface {
	Validate() error
}

// decode reads a JSON request body into a T, enforcing the contract's rules:
// a JSON content type (415), at most 1 MiB (413), well-formed JSON holding a
// single value (400 malformed_json), no unknown fields and fields of the
// right types (400 validation_failed), the input rule of input.go (every
// string valid UTF-8 without NUL, every integer within its column: 400
// validation_failed naming each field), then T's own validation, if any.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if err := decodeInto(w, r, &v, false); err != nil {
		return v, err
	}
	return v, nil
}

// decodeOptional is decode for endpoints whose body may be absent; an
// absent body yields T's zero value (still validated).
func decodeOptional[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if err := decodeInto(w, r, &v, true); err != nil {
		return v, err
	}
	return v, nil
}

func decodeInto(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	empty := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	if empty && optional {
		return validate(dst)
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.ContentLength > maxBodyBytes {
		return tooLarge()
	}
	var raw []byte
	if !empty {
		var err error
		if raw, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge()
			}
			return apperr.Wrap(err, apperr.MalformedJSON, "The request body could not be read to its end.")
		}
	}
	if optional && len(bytes.TrimSpace(raw)) == 0 {
		return validate(dst)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.New(apperr.MalformedJSON, "The body must hold a single JSON value.")
	}
	if err := checkInput(raw, dst); err != nil {
		return err
	}
	return validate(dst)
}

// checkInput applies the input rule to a decoded JSON value and its raw
// text.
func checkInput(raw []byte, dst any) error {
	var v apperr.Validator
	checkJSONText(&v, raw)
	checkIntRanges(&v, dst)
	return v.Err()
}

func validate(dst any) error {
	if v, ok := dst.(validator); ok {
		return v.Validate()
	}
	return nil
}

func checkContentType(ct string) error {
	if ct == "" {
		return apperr.New(apperr.UnsupportedMediaType, "Content-Type must be application/json.")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return apperr.New(apperr.UnsupportedMediaType, "Content-Type must be application/json.")
	}
	return nil
}

func tooLarge() error {
	return apperr.New(apperr.PayloadTooLarge, "The body must not exceed %d bytes.", maxBodyBytes)
}

func decodeError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		mbe       *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.As(err, &syntaxErr):
		return apperr.New(apperr.MalformedJSON, "Malformed JSON at byte %d.", syntaxErr.Offset)
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.MalformedJSON, "The request body is empty.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.MalformedJSON, "The JSON body ends too soon.")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return apperr.New(apperr.MalformedJSON, "The body must be a JSON object.")
		}
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "must be " + jsonKind(typeErr.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "unknown field"})
	default:
		// Errors from a field's own UnmarshalJSON (e.g. a bad time or UUID).
		return apperr.Wrap(err, apperr.ValidationFailed, fmt.Sprintf("Invalid value: %v", err))
	}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "an integer"
	case strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "a boolean"
	case goKind == "slice", goKind == "array":
		return "an array"
	default:
		return "an object"
	}
}
