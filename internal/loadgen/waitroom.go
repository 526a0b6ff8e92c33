package loadgen

import (
	"context"
	"errors"
)

func (r *run) waitroom(context.Context) (Report, error) {
	return Report{}, errors.New("the waiting-room scenario is not available in this build")
}
