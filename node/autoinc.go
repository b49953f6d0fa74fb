package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pingcap/tidb/pkg/parser"

	"github.com/maxproxy/maxproxy/node/sql"
)

// memberView is what wsrep_auto_increment_control follows: the replicator's view and its changes.
type memberView interface {
	MemberView() (size, index int)
	ViewChanged() <-chan struct{}
}

// autoIncControl is wsrep_auto_increment_control (GALERA.md §1.3): on every view the global
// auto_increment_increment becomes the number of members and auto_increment_offset this node's index + 1,
// so AUTO_INCREMENT values chosen concurrently on different nodes interleave instead of colliding.
// Sessions that did not set the variables themselves read the globals at each insert, so they follow at
// once.
type autoIncControl struct {
	eng  *sql.Engine
	view memberView
	log  *slog.Logger
	p    *parser.Parser // used only by the goroutine (and by start before it runs)
	last [2]int         // size, index applied last

	stop chan struct{}
	done chan struct{}
}

// startAutoIncControl applies the current view and follows its changes until stopAutoIncControl.
func startAutoIncControl(eng *sql.Engine, view memberView, log *slog.Logger) (*autoIncControl, error) {
	c := &autoIncControl{eng: eng, view: view, log: log, p: parser.New(), last: [2]int{-1, -1},
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := c.apply(); err != nil {
		return nil, err
	}
	go c.run()
	return c, nil
}

func (c *autoIncControl) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.view.ViewChanged():
			if err := c.apply(); err != nil {
				c.log.Error("wsrep_auto_increment_control: following the view", "err", err)
			}
		}
	}
}

// close stops following the view and waits for the goroutine.
func (c *autoIncControl) close() {
	if c == nil {
		return
	}
	close(c.stop)
	<-c.done
}

func (c *autoIncControl) apply() error {
	size, index := c.view.MemberView()
	if size < 1 || index < 0 || [2]int{size, index} == c.last {
		return nil // not a member (left, or not added yet): keep the last view's settings
	}
	sess := c.eng.NewSession(0, "root", "localhost")
	defer sess.Close()
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("SET GLOBAL auto_increment_increment = %d", size),
		fmt.Sprintf("SET GLOBAL auto_increment_offset = %d", index+1),
	} {
		stmt, err := c.p.ParseOneStmt(q, "", "")
		if err == nil {
			_, err = sess.Execute(ctx, stmt, q, nil)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", q, err)
		}
	}
	c.last = [2]int{size, index}
	c.log.Info("auto_increment follows the view", "auto_increment_increment", size, "auto_increment_offset", index+1)
	return nil
}
