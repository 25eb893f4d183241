package runtime

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Codec encodes the user values that cross durable boundaries: inputs,
// outputs, activity results, event data and custom status. The default is
// [JSONCodec]. Every worker and client of a deployment must use the same
// codec.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSONCodec is the default [Codec], encoding/json.
type JSONCodec struct{}

// Marshal implements Codec.
func (JSONCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Codec.
func (JSONCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// encodeValue marshals v, treating a nil interface as no payload.
func encodeValue(c Codec, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := c.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("runtime: encode %T: %w", v, err)
	}
	return b, nil
}

// decodeValue unmarshals data into out; out nil discards, empty data leaves
// out untouched (a nil or absent value).
func decodeValue(c Codec, data []byte, out any) error {
	if out == nil || len(data) == 0 {
		return nil
	}
	if rv := reflect.ValueOf(out); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("runtime: Await needs a non-nil pointer, got %T", out)
	}
	if err := c.Unmarshal(data, out); err != nil {
		return fmt.Errorf("runtime: decode into %T: %w", out, err)
	}
	return nil
}
