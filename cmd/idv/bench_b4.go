package main

import (
	"context"
	"errors"
)

func benchImagePath(ctx context.Context, env *benchEnv, o benchOptions) (*benchResult, error) {
	return nil, errors.New("B4: TODO")
}
