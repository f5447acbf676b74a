"""The reviewer side: joining loops, the queue, claiming and answering requests, history."""
