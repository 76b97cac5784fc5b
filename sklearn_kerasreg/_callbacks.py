"""scikit-learn callbacks (``set_callbacks``, scikit-learn 1.9) served per epoch.

``fit`` is the root task and each epoch a subtask, so ``ProgressBar`` shows a
bar over epochs and a callback whose ``on_fit_task_end`` returns True stops
training after that epoch. The engine already returns to Python after every
epoch for Keras callbacks; the epochs are reported through one such Keras
callback, added only when scikit-learn callbacks are set, so a fit without
them runs exactly as before (many epochs per compiled call).
"""


def epoch_tasks(estimator, context, X, y, metadata, fitted_attributes):
    """A Keras callback that makes each epoch a subtask of ``context``.

    ``fitted_attributes(net, n_epochs)`` gives the attributes that make a copy
    of ``estimator`` predict as the network does after ``n_epochs``; it is
    called only for callbacks that ask for a ``fitted_estimator``.
    """
    import keras

    class EpochTasks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._task = context.subcontext(task_name="epoch")
            self._task.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)

        def on_epoch_end(self, epoch, logs=None):
            stop = self._task.call_on_fit_task_end(
                estimator=estimator, X=X, y=y, metadata=metadata,
                reconstruction_attributes=lambda: fitted_attributes(self.model, epoch + 1),
            )
            if stop:
                self.model.stop_training = True

    return EpochTasks()
